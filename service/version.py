"""The service's version, from the installed package metadata (a leaf: anything may import it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kansrijke-start")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
