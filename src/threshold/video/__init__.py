"""Video evidence: recordings of entry sessions, sealed clips, live view and retention."""
