"""The application core: configuration, database, the event-sourced application and
its command handlers, security, and the command line."""
