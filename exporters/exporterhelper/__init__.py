"""The exporter helper every exporter is built with: timeout, sending queue (in memory or persistent),
batching after the queue, and retries with backoff, as the collector's exporterhelper.

An exporter supplies a `Sender`; `new_exporter(settings, config, signal, sender)` wraps it.
"""
