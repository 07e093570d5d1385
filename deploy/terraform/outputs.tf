output "topics" {
  description = "Full names of the raw, enriched and dead-letter topics."
  value = {
    raw         = google_pubsub_topic.raw.id
    enriched    = google_pubsub_topic.enriched.id
    dead_letter = google_pubsub_topic.dead_letter.id
  }
}

output "route_topics" {
  description = "topic id -> full name of its route topic."
  value       = { for id, topic in google_pubsub_topic.route : id => topic.id }
}

output "pipeline_subscription" {
  value = google_pubsub_subscription.pipeline.id
}

output "streaming_make_args" {
  description = "Arguments for `make -C deploy/dataflow run-streaming`."
  value       = "INPUT_SUBSCRIPTION=${google_pubsub_subscription.pipeline.id} OUTPUT_TOPIC=${google_pubsub_topic.enriched.id} DEAD_LETTER_TOPIC=${google_pubsub_topic.dead_letter.id} ROUTE_TOPICS=true"
}
