"""Operators: the people who watch live sessions, incidents and dead-lettered notifications."""
