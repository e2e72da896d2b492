package io.cdcpipeline.spark.kafka;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeProjection;
import org.apache.spark.sql.catalyst.expressions.UnsafeRow;
import org.apache.spark.sql.catalyst.expressions.codegen.UnsafeRowWriter;
import org.apache.spark.sql.catalyst.util.DateTimeUtils;
import org.apache.spark.sql.catalyst.util.GenericArrayData;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;

import java.util.ArrayList;
import java.util.List;

/** Kafka record to Spark row, with the schema of Spark's Kafka source. */
final class RecordToRow {
  static StructType kafkaSchema(boolean includeHeaders) {
    List<StructField> fields = new ArrayList<>();
    fields.add(DataTypes.createStructField("key", DataTypes.BinaryType, true));
    fields.add(DataTypes.createStructField("value", DataTypes.BinaryType, true));
    fields.add(DataTypes.createStructField("topic", DataTypes.StringType, true));
    fields.add(DataTypes.createStructField("partition", DataTypes.IntegerType, true));
    fields.add(DataTypes.createStructField("offset", DataTypes.LongType, true));
    fields.add(DataTypes.createStructField("timestamp", DataTypes.TimestampType, true));
    fields.add(DataTypes.createStructField("timestampType", DataTypes.IntegerType, true));
    if (includeHeaders) {
      StructType header = new StructType(new StructField[] {
          DataTypes.createStructField("key", DataTypes.StringType, true),
          DataTypes.createStructField("value", DataTypes.BinaryType, true)});
      fields.add(DataTypes.createStructField("headers", DataTypes.createArrayType(header, true), true));
    }
    return DataTypes.createStructType(fields);
  }

  /** 1582-10-15: from here on the Julian/Gregorian rebase done by Spark is the identity. */
  private static final long GREGORIAN_CUTOVER_MILLIS = -12219292800000L;

  private final boolean includeHeaders;
  private final UnsafeRowWriter writer;
  private final UnsafeProjection projection;
  private String lastTopic;
  private UTF8String lastTopicUtf8;

  RecordToRow(boolean includeHeaders) {
    this.includeHeaders = includeHeaders;
    if (includeHeaders) {
      this.writer = null;
      this.projection = UnsafeProjection.create(kafkaSchema(true));
    } else {
      this.writer = new UnsafeRowWriter(7, 1024);
      this.projection = null;
    }
  }

  private static long micros(long millis) {
    if (millis >= GREGORIAN_CUTOVER_MILLIS) return millis * 1000L;
    return DateTimeUtils.fromJavaTimestamp(new java.sql.Timestamp(millis));
  }

  private UTF8String topic(String topic) {
    if (!topic.equals(lastTopic)) {
      lastTopic = topic;
      lastTopicUtf8 = UTF8String.fromString(topic);
    }
    return lastTopicUtf8;
  }

  /** The returned row is reused by the next call. */
  UnsafeRow convert(ConsumerRecord<byte[], byte[]> r) {
    if (!includeHeaders) {
      writer.reset();
      writer.zeroOutNullBytes();
      if (r.key() == null) writer.setNullAt(0); else writer.write(0, r.key());
      if (r.value() == null) writer.setNullAt(1); else writer.write(1, r.value());
      writer.write(2, topic(r.topic()));
      writer.write(3, r.partition());
      writer.write(4, r.offset());
      writer.write(5, micros(r.timestamp()));
      writer.write(6, r.timestampType().id);
      return writer.getRow();
    }
    Object headers = null;
    if (r.headers().iterator().hasNext()) {
      List<Object> hs = new ArrayList<>();
      for (Header h : r.headers()) {
        hs.add(new GenericInternalRow(new Object[] {UTF8String.fromString(h.key()), h.value()}));
      }
      headers = new GenericArrayData(hs.toArray());
    }
    GenericInternalRow row = new GenericInternalRow(new Object[] {
        r.key(), r.value(), topic(r.topic()), r.partition(), r.offset(), micros(r.timestamp()),
        r.timestampType().id, headers});
    return projection.apply(row);
  }
}
