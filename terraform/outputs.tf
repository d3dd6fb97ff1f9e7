output "function_name" {
  description = "aws lambda invoke --function-name <this> with a JSON command (see the README's Run it by hand)."
  value       = aws_lambda_function.migrate.function_name
}

output "function_arn" {
  description = "ARN of the migration function."
  value       = aws_lambda_function.migrate.arn
}

output "layer_arn" {
  description = "ARN of the scripts layer version."
  value       = aws_lambda_layer_version.scripts.arn
}

output "migrate_result" {
  description = "The report of the last migrate run on apply (JSON), or null when run_on_apply is false."
  value       = var.run_on_apply ? aws_lambda_invocation.migrate[0].result : null
}
