"""The `newswire` commands besides run: Pub/Sub publish, subscribe and topics, report, runners."""
