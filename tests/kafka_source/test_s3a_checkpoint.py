"""A checkpoint on s3a:// (Hadoop's S3A from hadoop-aws, in jars/spark) on the stack's S3 server: what a
job on a cluster needs when no shared disk holds job.checkpoint_location."""

import uuid

import pytest

from stack.services import service
from stack_support import SETTINGS
from test_kafka_source import Collector, expected_positions, reader, run_available_now

pytestmark = pytest.mark.integration


def test_a_query_resumes_from_its_checkpoint_on_s3a(spark, kafka):
    from cdc_pipeline.stream import checkpoint_query_id

    prefix = f"test-checkpoints/{uuid.uuid4().hex[:12]}"
    checkpoint = f"s3a://{SETTINGS.lake_bucket}/{prefix}"
    s3 = service(SETTINGS, "seaweedfs").client()
    topic = kafka.create_topic(kafka.topic_name(), 2)
    try:
        first = kafka.produce(topic, 300, 2, tag="a")
        c1 = Collector()
        run_available_now(reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets="earliest"),
                          checkpoint, c1)
        assert set(c1.positions()) == expected_positions(topic, first)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=SETTINGS.lake_bucket, Prefix=prefix + "/")
                .get("Contents", [])]
        assert f"{prefix}/metadata" in keys and any(k.startswith(f"{prefix}/commits/") for k in keys), keys
        query_id = checkpoint_query_id(spark, checkpoint)  # what the job keys its sinks' ledgers by

        second = kafka.produce(topic, 100, 2, start=300, tag="a")
        c2 = Collector()
        run_available_now(reader(spark, kafka.bootstrap, subscribe=topic, startingOffsets="earliest"),
                          checkpoint, c2)
        assert set(c2.positions()) == expected_positions(topic, second, starts=first)
        assert len(c2.positions()) == 100, "records read again after the restart"
        assert min(b for b, _ in c2.batches) > max(b for b, _ in c1.batches)
        assert checkpoint_query_id(spark, checkpoint) == query_id
    finally:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=SETTINGS.lake_bucket, Prefix=prefix + "/"):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=SETTINGS.lake_bucket, Key=obj["Key"])
