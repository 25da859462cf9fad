"""The web: server-rendered pages for households (and, later, drivers, guests and operators)."""
