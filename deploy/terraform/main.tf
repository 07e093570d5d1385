# Pub/Sub for a newswire deployment: raw, enriched and dead-letter topics, one route topic per
# taxonomy topic (<enriched>-<topic_id>, what `newswire run --streaming --route-topics` publishes
# to), and subscriptions whose dead-letter policy moves undeliverable messages to the dead-letter
# topic. The names come from modules/names.

data "google_project" "this" {}

module "names" {
  source            = "./modules/names"
  raw_topic         = var.raw_topic
  enriched_topic    = var.enriched_topic
  dead_letter_topic = var.dead_letter_topic
  taxonomy_file     = coalesce(var.taxonomy_file, "${path.module}/../../transforms/rules/taxonomy.yaml")
}

locals {
  # The Pub/Sub service agent moves messages to the dead-letter topic on the subscriptions' behalf.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "raw" {
  name                       = module.names.topics.raw
  message_retention_duration = var.message_retention_duration
}

resource "google_pubsub_topic" "enriched" {
  name                       = module.names.topics.enriched
  message_retention_duration = var.message_retention_duration
}

resource "google_pubsub_topic" "dead_letter" {
  name                       = module.names.topics.dead_letter
  message_retention_duration = var.message_retention_duration
}

resource "google_pubsub_topic" "route" {
  for_each                   = module.names.routes
  name                       = each.value
  labels                     = { newswire_topic = each.key }
  message_retention_duration = var.message_retention_duration
}

# Read by the streaming pipeline. Dataflow acknowledges what it has durably taken in and never
# nacks, so on Dataflow the pipeline's own dead letters (stage, reason, original) are what reaches
# the dead-letter topic; the policy catches messages another consumer of this subscription cannot
# handle.
resource "google_pubsub_subscription" "pipeline" {
  name                       = module.names.subscriptions.pipeline
  topic                      = google_pubsub_topic.raw.id
  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = var.message_retention_duration
  expiration_policy {
    ttl = ""
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

# Downstream services read these (`newswire subscribe` or any Pub/Sub client).
resource "google_pubsub_subscription" "enriched" {
  name                       = module.names.subscriptions.enriched
  topic                      = google_pubsub_topic.enriched.id
  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = var.message_retention_duration
  expiration_policy {
    ttl = ""
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }
}

resource "google_pubsub_subscription" "route" {
  for_each                   = module.names.subscriptions.routes
  name                       = each.value
  topic                      = google_pubsub_topic.route[each.key].id
  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = var.message_retention_duration
  expiration_policy {
    ttl = ""
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }
}

# Without a subscription, whatever reaches the dead-letter topic would be dropped.
resource "google_pubsub_subscription" "dead_letter" {
  name                       = module.names.subscriptions.dead_letter
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = var.message_retention_duration
  expiration_policy {
    ttl = ""
  }
}

# Dead-letter policies work only when the service agent may publish to the dead-letter topic and
# acknowledge on the source subscriptions.
resource "google_pubsub_topic_iam_member" "service_agent_publishes_dead_letters" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "service_agent_forwards" {
  for_each = merge(
    { pipeline = google_pubsub_subscription.pipeline.id, enriched = google_pubsub_subscription.enriched.id },
    { for id, subscription in google_pubsub_subscription.route : "route_${id}" => subscription.id },
  )
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# The Dataflow workers' rights, when their service account is given.
resource "google_pubsub_subscription_iam_member" "dataflow_reads" {
  for_each     = var.dataflow_service_account == null ? toset([]) : toset(["roles/pubsub.subscriber", "roles/pubsub.viewer"])
  subscription = google_pubsub_subscription.pipeline.id
  role         = each.value
  member       = "serviceAccount:${var.dataflow_service_account}"
}

resource "google_pubsub_topic_iam_member" "dataflow_publishes" {
  for_each = var.dataflow_service_account == null ? {} : merge(
    { enriched = google_pubsub_topic.enriched.id, dead_letter = google_pubsub_topic.dead_letter.id },
    { for id, topic in google_pubsub_topic.route : "route_${id}" => topic.id },
  )
  topic  = each.value
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${var.dataflow_service_account}"
}
