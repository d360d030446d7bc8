"""The web console: a browser client of the public API, served by the platform at `/` and `/app`."""
