"""ImportTable, DescribeImport and ListImports through boto3 against a real region
process reading a real S3-compatible server (tests/fixtures/s3.py): CSV, DynamoDB JSON
and Ion; GZIP, ZSTD and none; malformed lines counted in ErrorCount and reported; bad
input answered with DynamoDB's errors; an import interrupted by kill -9 ends COMPLETED
or FAILED, never an ACTIVE half-imported table.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from regions.protection.formats.compression import compress
from tests.integration.api.support import REGION, expect_error, unique
from tests.integration.api.transfers_support import (
    s3_region,
    scan,
    transfer_fixtures,
    wait_import,
)

pytestmark = pytest.mark.integration

BUCKET = "gt-imports"


region, ddb, s3 = transfer_fixtures("imports", BUCKET)


def _params(name: str, **kw: Any) -> dict[str, Any]:
    return {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
        **kw,
    }


def test_csv_import_with_malformed_lines(ddb: Any, s3: Any) -> None:
    prefix = unique("csv")
    good = "".join(f"k{i};{i};name {i}\n" for i in range(20))
    bad = "too;many;fields;here\n;1;empty key\n"
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/a.csv", Body=(good + bad).encode())
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/b.csv", Body=b'z1;"5";"quoted; text"\n')
    name = unique("csv-t")
    desc = ddb.import_table(
        S3BucketSource={"S3Bucket": BUCKET, "S3KeyPrefix": prefix + "/"},
        InputFormat="CSV",
        InputFormatOptions={"Csv": {"Delimiter": ";", "HeaderList": ["pk", "n", "name"]}},
        TableCreationParameters=_params(name),
    )["ImportTableDescription"]
    assert desc["ImportStatus"] == "IN_PROGRESS"
    assert desc["TableArn"].endswith(f":table/{name}")
    assert desc["CloudWatchLogGroupArn"] == (
        f"arn:aws:logs:{REGION}:000000000000:log-group:/aws-dynamodb/imports:*"
    ) or desc["CloudWatchLogGroupArn"].endswith(":log-group:/aws-dynamodb/imports:*")
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] in ("CREATING", "ACTIVE")
    done = wait_import(ddb, desc["ImportArn"])
    assert done["ImportStatus"] == "COMPLETED", done
    assert done["ErrorCount"] == 2
    assert done["ImportedItemCount"] == 21
    assert done["ProcessedItemCount"] == 23
    assert done["ProcessedSizeBytes"] > 0
    assert done["InputFormatOptions"] == {
        "Csv": {"Delimiter": ";", "HeaderList": ["pk", "n", "name"]}
    }
    assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    items = scan(ddb, name)
    assert len(items) == 21
    assert {"pk": {"S": "k3"}, "n": {"S": "3"}, "name": {"S": "name 3"}} in items
    assert {"pk": {"S": "z1"}, "n": {"S": "5"}, "name": {"S": "quoted; text"}} in items
    # the error report: DynamoDB's log lines, in the region's bucket
    report = s3.get_object(
        Bucket=f"globaltables-{REGION}",
        Key=f"imports/{done['ImportArn'].rsplit('/import/', 1)[1]}/error-report.jsonl",
    )["Body"].read()
    entries = [json.loads(line) for line in report.decode().splitlines()]
    assert len(entries) == 2
    for entry in entries:
        assert entry["importArn"] == done["ImportArn"]
        assert entry["itemS3Pointer"]["bucket"] == BUCKET
        assert entry["itemS3Pointer"]["key"] == f"{prefix}/a.csv"
        assert entry["errorMessages"]
    assert sorted(e["itemS3Pointer"]["itemIndex"] for e in entries) == [20, 21]
    ddb.delete_table(TableName=name)


def test_import_formats_and_compressions(ddb: Any, s3: Any) -> None:
    items: list[dict[str, Any]] = [
        {
            "pk": {"S": f"k{i}"},
            "g": {"S": f"g{i % 3}"},
            "n": {"N": str(i)},
            "l": {"L": [{"S": "x"}]},
        }
        for i in range(30)
    ]
    json_lines = "".join(json.dumps({"Item": i}) + "\n" for i in items).encode()
    ion_lines = "".join(
        f'$ion_1_0 {{Item:{{pk:"{i["pk"]["S"]}",g:"{i["g"]["S"]}",n:{i["n"]["N"]}.,l:["x"]}}}}\n'
        for i in items
    ).encode()
    csv_lines = (
        b"pk,g,n\n"
        + "".join(f"{i['pk']['S']},{i['g']['S']},{i['n']['N']}\n" for i in items).encode()
    )
    cases = [
        ("DYNAMODB_JSON", "NONE", json_lines),
        ("ION", "ZSTD", compress(ion_lines, "ZSTD")),
        ("CSV", "GZIP", compress(csv_lines, "GZIP")),
        ("DYNAMODB_JSON", "ZSTD", compress(json_lines, "ZSTD")),
    ]
    for fmt, compression, body in cases:
        prefix = unique(f"{fmt.lower()}-{compression.lower()}")
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/data", Body=body)
        name = unique("fmt")
        gsi = {
            "IndexName": "by-g",
            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
        desc = ddb.import_table(
            S3BucketSource={"S3Bucket": BUCKET, "S3KeyPrefix": prefix},
            InputFormat=fmt,
            InputCompressionType=compression,
            TableCreationParameters=_params(
                name,
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "g", "AttributeType": "S"},
                ],
                GlobalSecondaryIndexes=[gsi],
            ),
        )["ImportTableDescription"]
        done = wait_import(ddb, desc["ImportArn"])
        assert done["ImportStatus"] == "COMPLETED", (fmt, compression, done)
        assert done["ErrorCount"] == 0 and done["ImportedItemCount"] == 30, done
        assert done["InputFormat"] == fmt and done["InputCompressionType"] == compression
        got = scan(ddb, name)
        if fmt == "CSV":
            # CSV: non-key columns are strings
            expected = [{"pk": i["pk"], "g": i["g"], "n": {"S": i["n"]["N"]}} for i in items]
        else:
            expected = items
        assert got == sorted(expected, key=lambda i: repr(sorted(i.items())))
        by_g = ddb.query(
            TableName=name,
            IndexName="by-g",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "g1"}},
        )
        assert by_g["Count"] == 10
        ddb.delete_table(TableName=name)


def test_import_errors(ddb: Any, s3: Any) -> None:
    prefix = unique("err")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/x.json", Body=b'{"Item":{"pk":{"S":"a"}}}\n')
    existing = unique("exists")
    ddb.create_table(
        TableName=existing,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    source = {"S3Bucket": BUCKET, "S3KeyPrefix": prefix}
    expect_error(
        lambda: ddb.import_table(
            S3BucketSource=source,
            InputFormat="DYNAMODB_JSON",
            TableCreationParameters=_params(existing),
        ),
        "ResourceInUseException",
    )
    expect_error(
        lambda: ddb.describe_import(
            ImportArn=f"arn:aws:dynamodb:{REGION}:000000000000:table/x/import/01700000000000-00000000"
        ),
        "ImportNotFoundException",
    )
    expect_error(
        lambda: ddb.import_table(
            S3BucketSource=source, InputFormat="XML", TableCreationParameters=_params(unique("x"))
        ),
        "ValidationException",
    )
    expect_error(
        lambda: ddb.import_table(
            S3BucketSource=source,
            InputFormat="DYNAMODB_JSON",
            InputCompressionType="BZIP2",
            TableCreationParameters=_params(unique("x")),
        ),
        "ValidationException",
    )
    # ClientToken: the same request is the same import, another one a conflict
    token = unique("tok")
    name = unique("tok-t")
    request: dict[str, Any] = {
        "ClientToken": token,
        "S3BucketSource": source,
        "InputFormat": "DYNAMODB_JSON",
        "TableCreationParameters": _params(name),
    }
    first = ddb.import_table(**request)["ImportTableDescription"]
    assert ddb.import_table(**request)["ImportTableDescription"]["ImportArn"] == first["ImportArn"]
    expect_error(
        lambda: ddb.import_table(**{**request, "InputFormat": "ION"}), "ImportConflictException"
    )
    assert first["ClientToken"] == token
    assert wait_import(ddb, first["ImportArn"])["ImportedItemCount"] == 1
    # a bucket that does not exist: FAILED, and no table is left behind
    missing = unique("miss")
    desc = ddb.import_table(
        S3BucketSource={"S3Bucket": "gt-no-such-bucket"},
        InputFormat="DYNAMODB_JSON",
        TableCreationParameters=_params(missing),
    )["ImportTableDescription"]
    failed = wait_import(ddb, desc["ImportArn"])
    assert failed["ImportStatus"] == "FAILED" and failed["FailureCode"] == "S3NoSuchBucket"
    expect_error(lambda: ddb.describe_table(TableName=missing), "ResourceNotFoundException")
    for t in (existing, name):
        ddb.delete_table(TableName=t)


def test_list_imports_pages(ddb: Any, s3: Any) -> None:
    prefix = unique("list")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/x.json", Body=b'{"Item":{"pk":{"S":"a"}}}\n')
    names = [unique("list-t") for _ in range(3)]
    arns = [
        ddb.import_table(
            S3BucketSource={"S3Bucket": BUCKET, "S3KeyPrefix": prefix},
            InputFormat="DYNAMODB_JSON",
            TableCreationParameters=_params(n),
        )["ImportTableDescription"]["ImportArn"]
        for n in names
    ]
    for arn in arns:
        wait_import(ddb, arn)
    one = ddb.list_imports(TableArn=arns[0].split("/import/")[0])["ImportSummaryList"]
    assert [s["ImportArn"] for s in one] == arns[:1]
    assert one[0]["ImportStatus"] == "COMPLETED" and one[0]["InputFormat"] == "DYNAMODB_JSON"
    seen: list[str] = []
    kw: dict[str, Any] = {"PageSize": 2}
    while True:
        page = ddb.list_imports(**kw)
        seen += [s["ImportArn"] for s in page["ImportSummaryList"]]
        if "NextToken" not in page:
            break
        kw["NextToken"] = page["NextToken"]
    assert [a for a in seen if a in arns] == arns
    for n in names:
        ddb.delete_table(TableName=n)


def test_interrupted_import_is_never_active_and_partial(tmp_path: Path) -> None:
    """kill -9 in the middle of an import (local object store), restart: the import
    ends COMPLETED with every item, or FAILED with the table gone."""
    proc = s3_region(tmp_path, None, {"GLOBALTABLES_TEST_TRANSFER_PAUSE_S": "0.1"}).start()
    try:
        # the local object store's bucket is a directory next to the store
        bucket_dir = tmp_path / "transfers.db.objects" / "gt-local-src" / "in"
        bucket_dir.mkdir(parents=True)
        body = "".join(
            json.dumps({"Item": {"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}}) + "\n"
            for i in range(3000)
        )
        (bucket_dir / "items.json").write_text(body)
        ddb: Any = proc.client()
        name = unique("imp-kill")
        try:
            desc = ddb.import_table(
                S3BucketSource={"S3Bucket": "gt-local-src", "S3KeyPrefix": "in/"},
                InputFormat="DYNAMODB_JSON",
                TableCreationParameters=_params(name),
            )["ImportTableDescription"]
        except ClientError as exc:  # pragma: no cover - diagnostics
            raise AssertionError(proc.log_tail()) from exc
        time.sleep(1.0)
        assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "CREATING"
        assert (
            ddb.describe_import(ImportArn=desc["ImportArn"])["ImportTableDescription"][
                "ImportStatus"
            ]
            == "IN_PROGRESS"
        )
        proc.kill()
        proc.start()
        ddb = proc.client()
        done = wait_import(ddb, desc["ImportArn"], timeout=120)
        if done["ImportStatus"] == "COMPLETED":
            assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
            assert len(scan(ddb, name)) == 3000
            assert done["ImportedItemCount"] == 3000
        else:
            assert done["ImportStatus"] == "FAILED"
            expect_error(lambda: ddb.describe_table(TableName=name), "ResourceNotFoundException")
    finally:
        proc.kill()
