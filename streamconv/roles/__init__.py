"""The roles (producer, worker, publisher), their links and their pure parts."""
