package io.cdcpipeline.spark.kafka;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.spark.SparkEnv;
import org.apache.spark.network.util.JavaUtils;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;

/** Option names, validation and Kafka parameter derivation, following Spark's KafkaSourceProvider. */
final class SourceOptions {
  private static final Logger LOG = LoggerFactory.getLogger(SourceOptions.class);

  static final String ASSIGN = "assign";
  static final String SUBSCRIBE = "subscribe";
  static final String SUBSCRIBE_PATTERN = "subscribepattern";
  static final List<String> STRATEGY_OPTION_KEYS = Arrays.asList(SUBSCRIBE, SUBSCRIBE_PATTERN, ASSIGN);
  static final String STARTING_OFFSETS = "startingoffsets";
  static final String ENDING_OFFSETS = "endingoffsets";
  static final String STARTING_OFFSETS_BY_TIMESTAMP = "startingoffsetsbytimestamp";
  static final String ENDING_OFFSETS_BY_TIMESTAMP = "endingoffsetsbytimestamp";
  static final String STARTING_TIMESTAMP = "startingtimestamp";
  static final String FAIL_ON_DATA_LOSS = "failondataloss";
  static final String MIN_PARTITIONS = "minpartitions";
  static final String MAX_OFFSETS_PER_TRIGGER = "maxoffsetspertrigger";
  static final String MIN_OFFSETS_PER_TRIGGER = "minoffsetspertrigger";
  static final String MAX_TRIGGER_DELAY = "maxtriggerdelay";
  static final String DEFAULT_MAX_TRIGGER_DELAY = "15m";
  static final String FETCH_OFFSET_NUM_RETRIES = "fetchoffset.numretries";
  static final String FETCH_OFFSET_RETRY_INTERVAL_MS = "fetchoffset.retryintervalms";
  static final String CONSUMER_POLL_TIMEOUT = "kafkaconsumer.polltimeoutms";
  static final String GROUP_ID_PREFIX = "groupidprefix";
  static final String INCLUDE_HEADERS = "includeheaders";
  /** Our own: how long the driver waits for the fetch that reveals a partition's high watermark. */
  static final String LATEST_PROBE_TIMEOUT_MS = "latestoffsetprobetimeoutms";

  static final String CUSTOM_GROUP_ID_ERROR_MESSAGE =
      "Kafka option 'kafka.group.id' has been set on this query, it is not recommended to set this"
          + " option. This option is unsafe to use since multiple concurrent queries or sources using the"
          + " same group id will interfere with each other as they are part of the same consumer group."
          + " Restarted queries may also suffer interference from the previous run having the same group id."
          + " The user should have only one query per group id, and/or set the option"
          + " 'kafka.session.timeout.ms' to be very small so that the Kafka consumers from the previous"
          + " query are marked dead by the Kafka group coordinator before the restarted query starts"
          + " running.";

  /** Starting offsets: earliest, latest, or per partition (-2 earliest, -1 latest). */
  static final class StartingOffsets {
    enum Kind { EARLIEST, LATEST, SPECIFIC }

    final Kind kind;
    final Map<TopicPartition, Long> specific;

    StartingOffsets(Kind kind, Map<TopicPartition, Long> specific) {
      this.kind = kind;
      this.specific = specific;
    }
  }

  static final long LATEST = -1L;
  static final long EARLIEST = -2L;

  private final CaseInsensitiveStringMap options;

  SourceOptions(CaseInsensitiveStringMap options) {
    this.options = options;
  }

  CaseInsensitiveStringMap raw() {
    return options;
  }

  String get(String key) {
    return options.get(key);
  }

  boolean contains(String key) {
    return options.containsKey(key);
  }

  void validateForStreaming() {
    if (contains(ENDING_OFFSETS)) {
      throw new IllegalArgumentException("ending offset not valid in streaming queries");
    }
    if (contains(ENDING_OFFSETS_BY_TIMESTAMP)) {
      throw new IllegalArgumentException("ending timestamp not valid in streaming queries");
    }
    if (contains(STARTING_OFFSETS_BY_TIMESTAMP) || contains(STARTING_TIMESTAMP)) {
      throw new IllegalArgumentException("The cdc-kafka source does not support the options "
          + "'startingTimestamp' and 'startingOffsetsByTimestamp'; use 'startingOffsets'.");
    }
    List<String> strategies = new ArrayList<>();
    for (String k : STRATEGY_OPTION_KEYS) if (contains(k)) strategies.add(k);
    if (strategies.isEmpty()) {
      throw new IllegalArgumentException("One of the following options must be specified for Kafka source: "
          + String.join(", ", STRATEGY_OPTION_KEYS) + ". See the docs for more details.");
    } else if (strategies.size() > 1) {
      throw new IllegalArgumentException("Only one of the following options can be specified for Kafka source: "
          + String.join(", ", STRATEGY_OPTION_KEYS) + ". See the docs for more details.");
    }
    String strategy = strategies.get(0);
    String value = get(strategy);
    switch (strategy) {
      case ASSIGN:
        if (!value.trim().startsWith("{")) {
          throw new IllegalArgumentException(
              "No topicpartitions to assign as specified value for option 'assign' is '" + value + "'");
        }
        break;
      case SUBSCRIBE:
        if (topics(value).isEmpty()) {
          throw new IllegalArgumentException(
              "No topics to subscribe to as specified value for option 'subscribe' is '" + value + "'");
        }
        break;
      default:
        if (value.trim().isEmpty()) {
          throw new IllegalArgumentException("Pattern to subscribe is empty as specified value for option "
              + "'subscribePattern' is '" + value + "'");
        }
    }
    if (contains(MIN_PARTITIONS) && Integer.parseInt(get(MIN_PARTITIONS).trim()) <= 0) {
      throw new IllegalArgumentException("minPartitions must be positive");
    }
    if (contains("kafka." + ConsumerConfig.GROUP_ID_CONFIG)) {
      LOG.warn(CUSTOM_GROUP_ID_ERROR_MESSAGE);
      if (contains(GROUP_ID_PREFIX)) {
        LOG.warn("Option groupIdPrefix will be ignored as option kafka.group.id has been set.");
      }
    }
    if (contains("kafka." + ConsumerConfig.AUTO_OFFSET_RESET_CONFIG)) {
      throw new IllegalArgumentException("Kafka option 'auto.offset.reset' is not supported. Instead set the "
          + "source option 'startingoffsets' to 'earliest' or 'latest' to specify where to start. Structured "
          + "Streaming manages which offsets are consumed internally, rather than relying on the kafkaConsumer "
          + "to do it. This will ensure that no data is missed when new topics/partitions are dynamically "
          + "subscribed. Note that 'startingoffsets' only applies when a new Streaming query is started, and "
          + "that resuming will always pick up from where the query left off. See the docs for more details.");
    }
    if (contains("kafka." + ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG)) {
      throw new IllegalArgumentException("Kafka option 'key.deserializer' is not supported as keys are "
          + "deserialized as byte arrays with ByteArrayDeserializer. Use DataFrame operations to explicitly "
          + "deserialize the keys.");
    }
    if (contains("kafka." + ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG)) {
      throw new IllegalArgumentException("Kafka option 'value.deserializer' is not supported as values are "
          + "deserialized as byte arrays with ByteArrayDeserializer. Use DataFrame operations to explicitly "
          + "deserialize the values.");
    }
    for (String c : Arrays.asList(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
        ConsumerConfig.INTERCEPTOR_CLASSES_CONFIG)) {
      if (contains("kafka." + c)) {
        throw new IllegalArgumentException("Kafka option '" + c + "' is not supported");
      }
    }
    if (!contains("kafka." + ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG)) {
      throw new IllegalArgumentException("Option 'kafka.bootstrap.servers' must be specified for "
          + "configuring Kafka consumer");
    }
    if (contains(MIN_OFFSETS_PER_TRIGGER) && contains(MAX_OFFSETS_PER_TRIGGER)) {
      long min = Long.parseLong(get(MIN_OFFSETS_PER_TRIGGER).trim());
      long max = Long.parseLong(get(MAX_OFFSETS_PER_TRIGGER).trim());
      if (min > max) {
        throw new IllegalArgumentException("The value of minOffsetPerTrigger(" + min
            + ") is higher than the maxOffsetsPerTrigger(" + max + ").");
      }
    }
    startingOffsets(); // validates the JSON early
  }

  static List<String> topics(String value) {
    List<String> out = new ArrayList<>();
    for (String t : value.split(",")) {
      String s = t.trim();
      if (!s.isEmpty()) out.add(s);
    }
    return out;
  }

  ConsumerStrategy strategy() {
    if (contains(ASSIGN)) return new ConsumerStrategy.Assign(JsonUtils.partitions(get(ASSIGN)));
    if (contains(SUBSCRIBE)) return new ConsumerStrategy.Subscribe(topics(get(SUBSCRIBE)));
    return new ConsumerStrategy.SubscribePattern(get(SUBSCRIBE_PATTERN).trim());
  }

  StartingOffsets startingOffsets() {
    String v = get(STARTING_OFFSETS);
    if (v == null) return new StartingOffsets(StartingOffsets.Kind.LATEST, null);
    String t = v.trim();
    if (t.toLowerCase(Locale.ROOT).equals("latest")) return new StartingOffsets(StartingOffsets.Kind.LATEST, null);
    if (t.toLowerCase(Locale.ROOT).equals("earliest")) {
      return new StartingOffsets(StartingOffsets.Kind.EARLIEST, null);
    }
    return new StartingOffsets(StartingOffsets.Kind.SPECIFIC, JsonUtils.partitionOffsets(t));
  }

  boolean failOnDataLoss() {
    String v = get(FAIL_ON_DATA_LOSS);
    return v == null || Boolean.parseBoolean(v.trim());
  }

  boolean includeHeaders() {
    String v = get(INCLUDE_HEADERS);
    return v != null && Boolean.parseBoolean(v.trim());
  }

  Long maxOffsetsPerTrigger() {
    String v = get(MAX_OFFSETS_PER_TRIGGER);
    return v == null ? null : Long.parseLong(v.trim());
  }

  Long minOffsetsPerTrigger() {
    String v = get(MIN_OFFSETS_PER_TRIGGER);
    return v == null ? null : Long.parseLong(v.trim());
  }

  long maxTriggerDelayMs() {
    String v = get(MAX_TRIGGER_DELAY);
    return JavaUtils.timeStringAsMs(v == null ? DEFAULT_MAX_TRIGGER_DELAY : v.trim());
  }

  Integer minPartitions() {
    String v = get(MIN_PARTITIONS);
    return v == null ? null : Integer.parseInt(v.trim());
  }

  long pollTimeoutMs() {
    String v = get(CONSUMER_POLL_TIMEOUT);
    if (v != null) return Long.parseLong(v.trim());
    long networkTimeoutSec = 120L;
    SparkEnv env = SparkEnv.get();
    if (env != null) networkTimeoutSec = env.conf().getTimeAsSeconds("spark.network.timeout", "120s");
    return networkTimeoutSec * 1000L;
  }

  int fetchOffsetNumRetries() {
    String v = get(FETCH_OFFSET_NUM_RETRIES);
    return v == null ? 3 : Integer.parseInt(v.trim());
  }

  long fetchOffsetRetryIntervalMs() {
    String v = get(FETCH_OFFSET_RETRY_INTERVAL_MS);
    return v == null ? 1000L : Long.parseLong(v.trim());
  }

  long latestProbeTimeoutMs() {
    String v = get(LATEST_PROBE_TIMEOUT_MS);
    return v == null ? 10000L : Long.parseLong(v.trim());
  }

  /** All options starting with "kafka." (case-insensitive), prefix stripped, original key case kept. */
  Map<String, String> specifiedKafkaParams() {
    Map<String, String> out = new HashMap<>();
    for (Map.Entry<String, String> e : options.asCaseSensitiveMap().entrySet()) {
      String k = e.getKey();
      if (k.toLowerCase(Locale.ROOT).startsWith("kafka.")) out.put(k.substring(6), e.getValue());
    }
    return out;
  }

  /** Like Spark: "{groupIdPrefix}-{uuid}-{metadataPath.hashCode}". */
  String uniqueGroupId(String metadataPath) {
    String prefix = get(GROUP_ID_PREFIX);
    if (prefix == null) prefix = "spark-kafka-source";
    return prefix + "-" + UUID.randomUUID() + "-" + metadataPath.hashCode();
  }

  /** Consumer used on the driver only to list partitions and learn offsets (never records for processing). */
  static Map<String, Object> kafkaParamsForDriver(Map<String, String> specified, String uniqueGroupId) {
    Map<String, Object> p = new HashMap<>(specified);
    p.remove(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG);
    p.remove(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.putIfAbsent(ConsumerConfig.GROUP_ID_CONFIG, uniqueGroupId + "-driver");
    p.putIfAbsent(ConsumerConfig.RECEIVE_BUFFER_CONFIG, "65536");
    p.putIfAbsent(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
    // The watermark probe: drain every completed fetch in one poll, fetch little. The wait stays at
    // Kafka's default: Tansu answers with no records when it cannot find them in S3 within the wait,
    // and the probe needs a record-bearing answer (see KafkaOffsetReader.probeLatest).
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "1000000");
    p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, "262144");
    p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "500");
    p.put(ConsumerConfig.FETCH_MIN_BYTES_CONFIG, "1");
    return p;
  }

  /** Consumers on executors: assign only, no commits, no offset reset, unique group id. */
  static HashMap<String, String> kafkaParamsForExecutors(Map<String, String> specified, String uniqueGroupId) {
    HashMap<String, String> p = new HashMap<>(specified);
    p.remove(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG);
    p.remove(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
    p.putIfAbsent(ConsumerConfig.GROUP_ID_CONFIG, uniqueGroupId + "-executor");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.putIfAbsent(ConsumerConfig.RECEIVE_BUFFER_CONFIG, "65536");
    p.putIfAbsent(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
    // Kafka's own default (500 ms). Tansu uses this wait as its budget to find the records in S3 and answers
    // an EMPTY fetch when that takes longer: at 10 ms a large topic became unreadable for Java consumers
    // (no error, correct high watermark, no records ever). Larger waits also fill larger responses there.
    p.putIfAbsent(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "500");
    p.putIfAbsent(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "10000");
    return p;
  }
}
