"""HTTP transport: retries and the pooled client the remote engines share."""
