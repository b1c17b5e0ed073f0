"""Codecs for DynamoDB's export and import objects (pure logic, no storage).

* :mod:`.dynamodb_json` and :mod:`.ion_writer` / :mod:`.ion_reader`: the line formats
  of exports (full and incremental) and imports;
* :mod:`.csv_import`: ImportTable's CSV input;
* :mod:`.manifest`: the export's object layout and its manifests;
* :mod:`.compression` and :mod:`.lines`: bounded streaming of GZIP / ZSTD / NONE
  objects into lines;
* :mod:`.data_files`: export data files written line by line and rotated by size;
* :mod:`.reader`: one import object from compressed bytes to validated items.

Items are DynamoDB's wire shape (``{"pk": {"S": "a"}}``, binaries as base64 text), the
same canonical form :mod:`regions.types` gives every stored item.
"""
