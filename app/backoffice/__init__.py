"""The back office's home and the audit log's pages and API."""
