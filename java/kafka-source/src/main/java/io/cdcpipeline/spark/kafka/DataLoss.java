package io.cdcpipeline.spark.kafka;

import org.slf4j.Logger;

/** Reporting of missing data, with the same wording and behaviour switch as Spark's Kafka source. */
final class DataLoss {
  private DataLoss() {}

  static final String INSTRUCTION_FOR_FAIL_ON_DATA_LOSS_FALSE =
      "Some data may have been lost because they are not available in Kafka any more; either the"
          + " data was aged out by Kafka or the topic may have been deleted before all the data in the"
          + " topic was processed. If you want your streaming query to fail on such cases, set the source"
          + " option \"failOnDataLoss\" to \"true\".";

  static final String INSTRUCTION_FOR_FAIL_ON_DATA_LOSS_TRUE =
      "Some data may have been lost because they are not available in Kafka any more; either the"
          + " data was aged out by Kafka or the topic may have been deleted before all the data in the"
          + " topic was processed. If you don't want your streaming query to fail on such cases, set the"
          + " source option \"failOnDataLoss\" to \"false\".";

  /** Throws IllegalStateException when failOnDataLoss, otherwise logs a warning. */
  static void report(boolean failOnDataLoss, Logger log, String message) {
    if (failOnDataLoss) {
      throw new IllegalStateException(message + ". " + INSTRUCTION_FOR_FAIL_ON_DATA_LOSS_TRUE);
    } else {
      log.warn(message + ". " + INSTRUCTION_FOR_FAIL_ON_DATA_LOSS_FALSE);
    }
  }
}
