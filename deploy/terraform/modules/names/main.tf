# Names only, no resources and no provider: every name a deployment uses, derived from the three
# topic names and the taxonomy's topic ids. Being provider-free, this module is evaluated offline
# by the test suite with the real `terraform` (tests/deploy/test_terraform.py).

variable "raw_topic" {
  type = string
}

variable "enriched_topic" {
  type = string
}

variable "dead_letter_topic" {
  type = string
}

variable "taxonomy_file" {
  description = "Taxonomy YAML; each entry of its `topics` list has an `id`."
  type        = string
}

locals {
  topic_ids = sort([for topic in yamldecode(file(var.taxonomy_file)).topics : topic.id])
  # The routes `--route-topics` publishes to: <enriched>-<topic_id>, one per taxonomy topic.
  routes = { for id in local.topic_ids : id => "${var.enriched_topic}-${id}" }
  topics = {
    raw         = var.raw_topic
    enriched    = var.enriched_topic
    dead_letter = var.dead_letter_topic
  }
  subscriptions = {
    # What the streaming pipeline reads.
    pipeline = "${var.raw_topic}-pipeline"
    # A topic without a subscription drops what is published to it: these keep the records.
    enriched    = "${var.enriched_topic}-all"
    dead_letter = "${var.dead_letter_topic}-hold"
    routes      = { for id, route in local.routes : id => "${route}-sub" }
  }
  all_names = concat(values(local.topics), values(local.routes),
    [local.subscriptions.pipeline, local.subscriptions.enriched, local.subscriptions.dead_letter],
  values(local.subscriptions.routes))
}

output "topic_ids" {
  value = local.topic_ids
}

output "topics" {
  value = local.topics
}

output "routes" {
  description = "topic id -> route topic name"
  value       = local.routes
}

output "subscriptions" {
  value = local.subscriptions
  precondition {
    # Pub/Sub's rule for topic and subscription ids.
    condition     = alltrue([for name in local.all_names : can(regex("^[A-Za-z][-A-Za-z0-9_.~+%]{2,254}$", name)) && !startswith(name, "goog")])
    error_message = "A topic or subscription name is not a valid Pub/Sub id (a letter, then 2-254 of letters, digits, - _ . ~ + %; not starting with goog)."
  }
}
