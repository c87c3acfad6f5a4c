"""Text and model tools of the search index and the assistant: chunking, rank fusion,
embedding providers (an offline model shipped in a registry package, or Mistral), the
Mistral chat adapter and topic clustering. Adapters to outside services are one module
each, behind small interfaces the tests point at a local stand-in (docs/search.md)."""
