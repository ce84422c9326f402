"""The `file_storage` extension: durable per-owner logs on local disk, so nothing acknowledged is lost."""
