"""The collector core: component ids, factories, configuration, the pipeline graph and the service."""
