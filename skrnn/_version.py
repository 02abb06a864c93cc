"""skrnn's version, and the format of its pickles."""

__version__ = "0.1.0"

# Bumped whenever fitted state changes meaning (parameter names, layouts, private attributes
# that prediction reads); a pickle of another format cannot be loaded.
PICKLE_FORMAT = 1
