"""The package's public surface is exactly `__all__`."""

from collector import confmap


def test_all_names_the_public_surface() -> None:
    assert sorted(confmap.__all__) == [
        "ConfmapError",
        "Plain",
        "REDACTED",
        "dump_yaml",
        "expand",
        "load_yaml",
        "redact",
        "resolve",
        "to_plain_data",
    ]
    public = {name for name in vars(confmap) if not name.startswith("_")}
    modules = {"expand", "merge", "redact", "yamlload"}  # submodules appear as attributes once imported
    assert public - modules - set(confmap.__all__) == set()
    assert all(hasattr(confmap, name) for name in confmap.__all__)
