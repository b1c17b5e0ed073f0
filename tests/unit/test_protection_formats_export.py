"""regions.protection.formats: export layout, manifests, data files, compression and
the import pipeline (export -> import round trip)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from datetime import UTC, datetime

import pytest
import zstandard

from regions.keys import KeyAttr, KeySchema
from regions.protection.formats.compression import (
    Compressor,
    Decompressor,
    compress,
    decompress,
    decompress_stream,
)
from regions.protection.formats.data_files import ExportDataWriter
from regions.protection.formats.dynamodb_json import decode_change_line
from regions.protection.formats.errors import ItemError, ObjectFormatError
from regions.protection.formats.ion_reader import decode_ion_change_line
from regions.protection.formats.lines import split_lines
from regions.protection.formats.manifest import (
    ExportLayout,
    ManifestFileEntry,
    export_arn,
    export_time,
    manifest_files_document,
    manifest_files_line,
    manifest_summary,
    md5_base64,
    multipart_etag,
    new_data_file_name,
    new_export_id,
    s3_etag,
)
from regions.protection.formats.reader import error_log_line, read_import_object
from regions.protection.formats.records import ChangeRecord, ParsedItem
from regions.types import Item, item_size, validate_item

TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/ProductCatalog"
PK = KeySchema(KeyAttr("pk", "S"))


# --- layout ---------------------------------------------------------------------------


def test_layout_keys() -> None:
    layout = ExportLayout("2020-Nov", "01234567890123-a1b2c3d4")
    base = "2020-Nov/AWSDynamoDB/01234567890123-a1b2c3d4"
    assert layout.directory == base
    assert layout.started_key == f"{base}/_started"
    assert layout.manifest_summary_key == f"{base}/manifest-summary.json"
    assert layout.manifest_summary_md5_key == f"{base}/manifest-summary.md5"
    assert layout.manifest_files_key == f"{base}/manifest-files.json"
    assert layout.manifest_files_md5_key == f"{base}/manifest-files.md5"
    assert layout.data_key("abc", "DYNAMODB_JSON", incremental=False) == f"{base}/data/abc.json.gz"
    assert layout.data_key("abc", "ION", incremental=False) == f"{base}/data/abc.ion.gz"
    # incremental exports share one data folder next to the export directories
    assert layout.data_key("abc", "ION", incremental=True) == "2020-Nov/AWSDynamoDB/data/abc.ion.gz"
    assert ExportLayout(None, "x").manifest_files_key == "AWSDynamoDB/x/manifest-files.json"
    assert ExportLayout("", "x").started_key == "AWSDynamoDB/x/_started"
    assert ExportLayout("p/", "x").started_key == "p/AWSDynamoDB/x/_started"


def test_ids_and_names_have_dynamodbs_shape() -> None:
    export_id = new_export_id(1_645_072_900_758)
    assert re.fullmatch(r"01645072900758-[0-9a-f]{8}", export_id)
    assert export_arn(TABLE_ARN, export_id) == f"{TABLE_ARN}/export/{export_id}"
    names = {new_data_file_name() for _ in range(50)}
    assert len(names) == 50
    assert all(re.fullmatch(r"[a-z2-7]{26}", n) for n in names)


def test_checksums_and_etags() -> None:
    data = b"hello"
    assert md5_base64(data) == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert len(md5_base64(data)) == 24  # the 24-byte .md5 objects of real exports
    assert s3_etag(data) == hashlib.md5(data).hexdigest()
    parts = [b"a" * 10, b"b" * 3]
    digest = hashlib.md5(hashlib.md5(parts[0]).digest() + hashlib.md5(parts[1]).digest())
    assert multipart_etag(parts) == digest.hexdigest() + "-2"
    assert re.fullmatch(r"[0-9a-f]{32}-1", multipart_etag([data]))


def test_export_time_format() -> None:
    moment = datetime(2020, 11, 4, 7, 28, 34, 28_999, tzinfo=UTC)
    assert export_time(moment) == "2020-11-04T07:28:34.028Z"
    assert export_time(moment.timestamp()) == "2020-11-04T07:28:34.028Z"
    with pytest.raises(ValueError, match="naive"):
        export_time(datetime(2020, 1, 1))


# --- manifests ------------------------------------------------------------------------


def test_full_export_summary_field_by_field() -> None:
    # The guide's example (S3DataExport.Output), with the manifest key as DynamoDB
    # writes it when a prefix is given (the key includes the prefix).
    layout = ExportLayout("2020-Nov", "01234567890123-a1b2c3d4")
    summary = manifest_summary(
        layout=layout,
        table_arn=TABLE_ARN,
        table_id="12345a12-abcd-123a-ab12-1234abc12345",
        start_time=datetime(2020, 11, 4, 7, 28, 34, 28_000, tzinfo=UTC),
        end_time=datetime(2020, 11, 4, 7, 33, 43, 897_000, tzinfo=UTC),
        exported_at=datetime(2020, 11, 4, 7, 28, 34, 28_000, tzinfo=UTC),
        s3_bucket="ddb-productcatalog-export",
        export_format="DYNAMODB_JSON",
        item_count=8,
        billed_size_bytes=0,
    )
    parsed = json.loads(summary)
    assert list(parsed.items()) == [
        ("version", "2020-06-30"),
        ("exportArn", f"{TABLE_ARN}/export/01234567890123-a1b2c3d4"),
        ("startTime", "2020-11-04T07:28:34.028Z"),
        ("endTime", "2020-11-04T07:33:43.897Z"),
        ("tableArn", TABLE_ARN),
        ("tableId", "12345a12-abcd-123a-ab12-1234abc12345"),
        ("exportTime", "2020-11-04T07:28:34.028Z"),
        ("s3Bucket", "ddb-productcatalog-export"),
        ("s3Prefix", "2020-Nov"),
        ("s3SseAlgorithm", "AES256"),
        ("s3SseKmsKeyId", None),
        ("manifestFilesS3Key", "2020-Nov/AWSDynamoDB/01234567890123-a1b2c3d4/manifest-files.json"),
        ("billedSizeBytes", 0),
        ("itemCount", 8),
        ("outputFormat", "DYNAMODB_JSON"),
        ("exportType", "FULL_EXPORT"),
    ]
    assert b"\n" not in summary


def test_incremental_export_summary_field_by_field() -> None:
    layout = ExportLayout("20230919-prefix", "01695097218000-d6299cbd")
    arn = "arn:aws:dynamodb:us-east-1:599882009758:table/export-test"
    summary = manifest_summary(
        layout=layout,
        table_arn=arn,
        table_id="b116b490-6460-4d4a-9a6b-5d360abf4fb3",
        start_time=datetime(2023, 9, 19, 4, 20, 18, tzinfo=UTC),
        end_time=datetime(2023, 9, 19, 4, 40, 24, 780_000, tzinfo=UTC),
        export_from_time=datetime(2023, 9, 18, 17, 0, tzinfo=UTC),
        export_to_time=datetime(2023, 9, 19, 4, 0, tzinfo=UTC),
        output_view="NEW_AND_OLD_IMAGES",
        s3_bucket="jason-exports",
        export_format="DYNAMODB_JSON",
        item_count=169_928_274,
        billed_size_bytes=20_901_239_349,
        s3_sse_algorithm="KMS",
        s3_sse_kms_key_id="arn:aws:kms:us-east-1:599882009758:key/k",
    )
    assert list(json.loads(summary).items()) == [
        ("version", "2023-08-01"),
        ("exportArn", f"{arn}/export/01695097218000-d6299cbd"),
        ("startTime", "2023-09-19T04:20:18.000Z"),
        ("endTime", "2023-09-19T04:40:24.780Z"),
        ("tableArn", arn),
        ("tableId", "b116b490-6460-4d4a-9a6b-5d360abf4fb3"),
        ("exportFromTime", "2023-09-18T17:00:00.000Z"),
        ("exportToTime", "2023-09-19T04:00:00.000Z"),
        ("s3Bucket", "jason-exports"),
        ("s3Prefix", "20230919-prefix"),
        ("s3SseAlgorithm", "KMS"),
        ("s3SseKmsKeyId", "arn:aws:kms:us-east-1:599882009758:key/k"),
        (
            "manifestFilesS3Key",
            "20230919-prefix/AWSDynamoDB/01695097218000-d6299cbd/manifest-files.json",
        ),
        ("billedSizeBytes", 20_901_239_349),
        ("itemCount", 169_928_274),
        ("outputFormat", "DYNAMODB_JSON"),
        ("outputView", "NEW_AND_OLD_IMAGES"),
        ("exportType", "INCREMENTAL_EXPORT"),
    ]


def test_summary_refuses_mixed_parameters() -> None:
    common = dict(
        layout=ExportLayout(None, "x"),
        table_arn=TABLE_ARN,
        table_id="t",
        start_time=0.0,
        end_time=0.0,
        s3_bucket="b",
        export_format="ION",
        item_count=0,
        billed_size_bytes=0,
    )
    with pytest.raises(ValueError, match="window"):
        manifest_summary(**common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a window"):
        manifest_summary(**common, exported_at=0.0, output_view="NEW_IMAGE")  # type: ignore[arg-type]
    no_prefix = json.loads(manifest_summary(**common, exported_at=0.0))  # type: ignore[arg-type]
    assert no_prefix["s3Prefix"] is None
    assert no_prefix["manifestFilesS3Key"] == "AWSDynamoDB/x/manifest-files.json"
    assert no_prefix["outputFormat"] == "ION"


def test_manifest_files_lines() -> None:
    # The guide's example line, field by field.
    entry = ManifestFileEntry(
        item_count=8,
        md5_checksum="sQMSpEILNgoQmarvDFonGQ==",
        etag="af83d6f217c19b8b0fff8023d8ca4716-1",
        data_file_s3_key="AWSDynamoDB/11111111111111-22222222/data/33334444EXAMPLE.json.gz",
    )
    line = manifest_files_line(entry)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert list(json.loads(line).items()) == [
        ("itemCount", 8),
        ("md5Checksum", "sQMSpEILNgoQmarvDFonGQ=="),
        ("etag", "af83d6f217c19b8b0fff8023d8ca4716-1"),
        ("dataFileS3Key", "AWSDynamoDB/11111111111111-22222222/data/33334444EXAMPLE.json.gz"),
    ]
    document = manifest_files_document([entry, entry])
    assert [json.loads(x) for x in document.splitlines()] == [json.loads(line)] * 2


# --- data files -----------------------------------------------------------------------


def _items(n: int) -> list[Item]:
    return [validate_item({"pk": {"S": f"k{i:05d}"}, "v": {"N": str(i)}}) for i in range(n)]


@pytest.mark.parametrize("export_format", ["DYNAMODB_JSON", "ION"])
def test_data_writer_rotates_by_size_and_imports_back(export_format: str) -> None:
    layout = ExportLayout("exports", "01645072900758-ee1232a3")
    writer = ExportDataWriter(layout, export_format, target_bytes=20_000)
    items = _items(3000)
    files = []
    for item in items:
        files += writer.write_item(item)
    files += writer.close()
    assert len(files) > 1
    assert all(f.uncompressed_bytes < 20_000 + 100 for f in files)
    assert sum(f.item_count for f in files) == writer.item_count == 3000
    assert writer.item_bytes == sum(item_size(i) for i in items)
    suffix = ".json.gz" if export_format == "DYNAMODB_JSON" else ".ion.gz"
    back: list[Item] = []
    for f in files:
        assert f.key.startswith("exports/AWSDynamoDB/01645072900758-ee1232a3/data/")
        assert f.key.endswith(suffix)
        entry = f.manifest_entry()
        assert entry.md5_checksum == md5_base64(f.data)
        assert entry.etag == hashlib.md5(f.data).hexdigest()
        assert f.manifest_entry(etag="e-1").etag == "e-1"
        assert len(gzip.decompress(f.data)) == f.uncompressed_bytes
        parsed = list(
            read_import_object(
                [f.data],
                input_format=export_format,
                compression="GZIP",
                key_schema=PK,
                attribute_types={"pk": "S"},
            )
        )
        assert all(isinstance(p, ParsedItem) for p in parsed)
        assert len(parsed) == f.item_count
        back += [p.item for p in parsed if isinstance(p, ParsedItem)]
    assert back == items


def test_empty_export_still_has_one_empty_data_file() -> None:
    writer = ExportDataWriter(ExportLayout(None, "x"), "DYNAMODB_JSON", name_factory=lambda: "n")
    [empty] = writer.close()
    assert empty.key == "AWSDynamoDB/x/data/n.json.gz"
    assert gzip.decompress(empty.data) == b""
    assert empty.item_count == 0
    assert writer.close() == []


@pytest.mark.parametrize("export_format", ["DYNAMODB_JSON", "ION"])
def test_incremental_data_writer(export_format: str) -> None:
    writer = ExportDataWriter(
        ExportLayout("p", "x"), export_format, incremental=True, name_factory=lambda: "n"
    )
    keys: Item = {"pk": {"S": "a"}}
    records = [
        ChangeRecord(1, keys, None, {"pk": {"S": "a"}, "v": {"S": "new"}}),
        ChangeRecord(2, keys, {"pk": {"S": "a"}}, None),
        ChangeRecord(3, keys),
    ]
    assert writer.write_change(records[0]) == []
    writer.write_change(records[1])
    writer.write_change(records[2])
    [f] = writer.close()
    assert (
        f.key
        == f"p/AWSDynamoDB/data/n{'.json.gz' if export_format == 'DYNAMODB_JSON' else '.ion.gz'}"
    )
    decode = decode_change_line if export_format == "DYNAMODB_JSON" else decode_ion_change_line
    assert [decode(line) for line in gzip.decompress(f.data).splitlines()] == records


def test_gzip_output_is_deterministic() -> None:
    assert compress(b"same", "GZIP") == compress(b"same", "GZIP")


# --- compression ----------------------------------------------------------------------

PAYLOAD = b"".join(b'{"Item":{"pk":{"S":"%d"}}}\n' % i for i in range(2000))


@pytest.mark.parametrize("compression", ["GZIP", "ZSTD", "NONE"])
def test_compression_round_trips_streamed(compression: str) -> None:
    packed = compress(PAYLOAD, compression)
    assert decompress(packed, compression) == PAYLOAD
    pieces = [packed[i : i + 7] for i in range(0, len(packed), 7)]
    assert b"".join(decompress_stream(pieces, compression)) == PAYLOAD
    # concatenated members / frames read to the end, as gzip(1) and zstd(1) do
    assert decompress(packed + packed, compression) == PAYLOAD * 2
    c = Compressor(compression)
    streamed = b"".join(c.write(PAYLOAD[i : i + 100]) for i in range(0, len(PAYLOAD), 100))
    streamed += c.finish()
    assert c.compressed_size == len(streamed)
    assert decompress(streamed, compression) == PAYLOAD


def test_foreign_compressors_are_read() -> None:
    assert decompress(gzip.compress(PAYLOAD), "GZIP") == PAYLOAD
    assert decompress(zstandard.ZstdCompressor(level=19).compress(PAYLOAD), "ZSTD") == PAYLOAD
    streamed = zstandard.ZstdCompressor().compressobj()
    no_size = streamed.compress(PAYLOAD) + streamed.flush()  # frame without content size
    assert decompress(no_size, "ZSTD") == PAYLOAD


@pytest.mark.parametrize("compression", ["GZIP", "ZSTD"])
def test_corrupt_and_truncated_input(compression: str) -> None:
    packed = compress(PAYLOAD, compression)
    with pytest.raises(ObjectFormatError, match=f"truncated {compression}"):
        decompress(packed[:-5], compression)
    with pytest.raises(ObjectFormatError, match=f"corrupt {compression}"):
        decompress(b"this is not compressed at all", compression)
    with pytest.raises(ObjectFormatError, match=f"corrupt {compression}"):
        decompress(packed + b"garbage after the end", compression)


@pytest.mark.parametrize("compression", ["GZIP", "ZSTD", "NONE"])
def test_decompression_bomb_is_refused(compression: str) -> None:
    limit = 1024 * 1024
    if compression == "NONE":
        bomb = b"\0" * (limit + 1)
    elif compression == "GZIP":
        bomb = gzip.compress(b"\0" * (64 * limit))
    else:
        bomb = zstandard.ZstdCompressor().compress(b"\0" * (256 * limit))
    if compression != "NONE":
        assert len(bomb) < limit / 10
    decompressor = Decompressor(compression, max_output=limit)
    produced = 0
    with pytest.raises(ObjectFormatError, match="decompression bomb"):
        for piece in decompressor.feed(bomb):
            produced += len(piece)
    # refused within one bounded step of the limit, never after inflating it all
    assert produced <= limit + 32 * 1024 * 1024
    assert decompressor.total_out <= limit + 32 * 1024 * 1024


def test_unknown_compression() -> None:
    with pytest.raises(ValueError, match="unknown compression"):
        Decompressor("BZIP2")
    with pytest.raises(ValueError, match="unknown compression"):
        Compressor("LZ4")


# --- lines and the import pipeline ---------------------------------------------------


def test_line_splitter_bounds_lines() -> None:
    data = b"short\r\n" + b"x" * 100 + b"\nlast"
    lines = list(split_lines([data[i : i + 3] for i in range(0, len(data), 3)], max_line=10))
    assert [(line.number, line.data, line.size) for line in lines] == [
        (1, b"short", 7),
        (2, None, 101),
        (3, b"last", 4),
    ]


def test_import_pipeline_counts_errors_and_goes_on() -> None:
    lines = [
        b'{"Item":{"pk":{"S":"a"}}}',
        b"",
        b"not json",
        b'{"Item":{"other":{"S":"x"}}}',
        b"x" * 200,
        b'{"Item":{"pk":{"S":"b"},"n":{"N":"1.50"}}}',
    ]
    data = compress(b"\n".join(lines) + b"\n", "ZSTD")
    result = list(
        read_import_object(
            [data],
            input_format="DYNAMODB_JSON",
            compression="ZSTD",
            key_schema=PK,
            attribute_types={"pk": "S"},
            max_line=100,
        )
    )
    assert [type(r).__name__ for r in result] == [
        "ParsedItem",
        "ItemError",
        "ItemError",
        "ItemError",
        "ParsedItem",
    ]
    assert [(r.index, r.line) for r in result] == [(0, 1), (1, 3), (2, 4), (3, 5), (4, 6)]
    errors = [r.message for r in result if isinstance(r, ItemError)]
    assert errors[1] == "One or more parameter values were invalid: Missing the key pk in the item"
    assert errors[2] == "line longer than 100 bytes"
    last = result[-1]
    assert isinstance(last, ParsedItem) and last.item["n"] == {"N": "1.5"}
    assert sum(r.size for r in result) + 1 == len(b"\n".join(lines) + b"\n")  # + blank line


def test_import_pipeline_csv_and_ion() -> None:
    csv_data = compress(b"pk,n\na,1\nb,2\n", "GZIP")
    result = list(
        read_import_object(
            [csv_data],
            input_format="CSV",
            compression="GZIP",
            key_schema=PK,
            attribute_types={"pk": "S"},
        )
    )
    assert [r.item for r in result if isinstance(r, ParsedItem)] == [
        {"pk": {"S": "a"}, "n": {"S": "1"}},
        {"pk": {"S": "b"}, "n": {"S": "2"}},
    ]
    ion = b'$ion_1_0\n$ion_1_0 {Item:{pk:"a",n:1.5}}\n{Item:{pk:"b"}}\n'
    result = list(
        read_import_object(
            [ion], input_format="ION", compression="NONE", key_schema=PK, attribute_types={}
        )
    )
    assert [r.item for r in result if isinstance(r, ParsedItem)] == [
        {"pk": {"S": "a"}, "n": {"N": "1.5"}},
        {"pk": {"S": "b"}},
    ]


def test_import_pipeline_stops_at_a_corrupt_object_after_its_good_items() -> None:
    good = compress(b'{"Item":{"pk":{"S":"a"}}}\n' * 3, "GZIP")
    reader = read_import_object(
        [good, b"\x1f\x8bcorrupt member"],
        input_format="DYNAMODB_JSON",
        compression="GZIP",
        key_schema=PK,
        attribute_types={"pk": "S"},
    )
    seen = []
    with pytest.raises(ObjectFormatError, match="corrupt GZIP"):
        for r in reader:
            seen.append(r)
    assert len(seen) == 3


def test_error_log_line_has_dynamodbs_shape() -> None:
    # Developer Guide, "Import format quotas and validation": the CloudWatch entry.
    arn = (
        "arn:aws:dynamodb:us-east-1:531234567890:table/target-table/import/01658528578619-c4d4e311"
    )
    error = ItemError(
        0, 2, "One or more parameter values were invalid: Missing the key pk in the item", 42
    )
    line = error_log_line(arn, "my-import-source", "import-test.csv", error)
    assert line.endswith(b"\n")
    assert json.loads(line) == {
        "itemS3Pointer": {"bucket": "my-import-source", "key": "import-test.csv", "itemIndex": 0},
        "importArn": arn,
        "errorMessages": [
            "One or more parameter values were invalid: Missing the key pk in the item"
        ],
    }
