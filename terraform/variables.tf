variable "name" {
  description = "Name of the function, its role and log group, and prefix of the layer."
  type        = string
  default     = "aurora-migrate"
}

variable "cluster_arn" {
  description = "ARN of the Aurora MySQL cluster; its Data API (HTTP endpoint) must be enabled."
  type        = string
}

variable "secret_arn" {
  description = "ARN of the Secrets Manager secret with the database credentials."
  type        = string
}

variable "database" {
  description = "Default database of the top-level scripts. null: the secret's dbname."
  type        = string
  default     = null
}

variable "function_zip" {
  description = "The release's aurora-migrate-lambda-<version>-<architecture>.zip (bootstrap only)."
  type        = string
}

variable "architecture" {
  description = "arm64 or x86_64: must be the architecture of function_zip."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64 (the release has a zip for each)."
  }
}

variable "layer_zip" {
  description = "The scripts layer: `aurora-migrate layer scripts --output build/layer.zip` (scripts under migrations/)."
  type        = string
}

variable "content_hash" {
  description = "`aurora-migrate hash scripts`: a new value runs the migrations again."
  type        = string
  validation {
    condition     = can(regex("^sha256:[0-9a-f]{64}$", var.content_hash))
    error_message = "content_hash must be what `aurora-migrate hash DIR` prints: sha256:<64 hex digits>."
  }
}

variable "history_table" {
  description = "Table recording applied migrations."
  type        = string
  default     = "aurora_migrate_history"
}

variable "memory_size" {
  description = "Memory of the function in MiB (Lambda gives CPU in proportion)."
  type        = number
  default     = 256
}

variable "timeout" {
  description = "Function timeout in seconds; the function stops cleanly before it and records its progress."
  type        = number
  default     = 900
}

variable "log_retention_days" {
  description = "Retention of the function's log group (an audit trail of schema changes)."
  type        = number
  default     = 731
}

variable "run_on_apply" {
  description = "Invoke {\"command\":\"migrate\"} when content_hash or the function changes (a failed migration fails the apply)."
  type        = bool
  default     = true
}
