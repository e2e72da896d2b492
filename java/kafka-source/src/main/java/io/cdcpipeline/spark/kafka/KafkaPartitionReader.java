package io.cdcpipeline.spark.kafka;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Reads exactly the records with offsets in [fromOffset, untilOffset) of one partition. */
final class KafkaPartitionReader implements PartitionReader<InternalRow> {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaPartitionReader.class);

  private final KafkaInputPartition split;
  private final CachedKafkaConsumer consumer;
  private final RecordToRow converter;
  private long nextOffset;
  private InternalRow current;
  private boolean healthy = true;
  private boolean closed = false;
  private long rows = 0;

  KafkaPartitionReader(KafkaInputPartition split) {
    this.split = split;
    this.consumer = ConsumerPool.acquire(split.executorKafkaParams, split.topicPartition());
    this.converter = new RecordToRow(split.includeHeaders);
    this.nextOffset = split.fromOffset;
  }

  @Override
  public boolean next() {
    if (nextOffset >= split.untilOffset) return false;
    ConsumerRecord<byte[], byte[]> r;
    try {
      r = consumer.get(nextOffset, split.untilOffset, split.pollTimeoutMs, split.failOnDataLoss);
    } catch (RuntimeException e) {
      healthy = false;
      throw e;
    }
    if (r == null) {
      nextOffset = split.untilOffset;
      return false;
    }
    current = converter.convert(r);
    nextOffset = r.offset() + 1;
    rows++;
    return true;
  }

  @Override
  public InternalRow get() {
    return current;
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    TaskContext ctx = TaskContext.get();
    boolean reusable = healthy && (ctx == null || (!ctx.isFailed() && !ctx.isInterrupted()));
    ConsumerPool.release(consumer, reusable);
    if (LOG.isDebugEnabled()) LOG.debug("Read {} rows from {}", rows, split);
  }
}
