"""The version of whet, recorded in every saved model's whet.json and served in the API document."""

__version__ = "0.1.0"
