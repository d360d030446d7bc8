def load_all() -> None:
    """Imports the adapter modules so they register themselves."""
    import importlib
    import pkgutil
    from pathlib import Path

    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")
