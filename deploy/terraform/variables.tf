variable "project" {
  description = "Google Cloud project that holds the topics and subscriptions."
  type        = string
}

variable "region" {
  description = "Default region of the provider (Pub/Sub itself is global)."
  type        = string
  default     = "europe-west1"
}

variable "raw_topic" {
  description = "Topic of raw news messages (what `newswire publish` sends)."
  type        = string
  default     = "newswire-raw"
}

variable "enriched_topic" {
  description = "Topic of enriched records; the per-topic routes are <enriched_topic>-<topic_id>."
  type        = string
  default     = "newswire-enriched"
}

variable "dead_letter_topic" {
  description = "Topic of dead letters: the pipeline's and those of the subscriptions' dead-letter policies."
  type        = string
  default     = "newswire-dead-letter"
}

variable "taxonomy_file" {
  description = "Taxonomy whose topic ids name the routes. Default: the repository's transforms/rules/taxonomy.yaml."
  type        = string
  default     = null
}

variable "max_delivery_attempts" {
  description = "Deliveries of a message before a subscription's dead-letter policy moves it to the dead-letter topic (5 to 100)."
  type        = number
  default     = 5
  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub allows 5 to 100 delivery attempts."
  }
}

variable "ack_deadline_seconds" {
  description = "Seconds a subscriber has to acknowledge a message before it is redelivered (10 to 600)."
  type        = number
  default     = 60
}

variable "message_retention_duration" {
  description = "How long unacknowledged messages are kept, as seconds with an s suffix (at most 7 days)."
  type        = string
  default     = "604800s"
}

variable "dataflow_service_account" {
  description = "E-mail of the Dataflow workers' service account; when set it may pull the input subscription and publish to the enriched, route and dead-letter topics."
  type        = string
  default     = null
}
