"""The `debug` exporter: writes what it receives to the log, at three levels of detail."""
