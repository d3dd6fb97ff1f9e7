# aurora-migrate for Terraform: the scripts layer, the function from the release zip (no VPC: it
# reaches Aurora through the RDS Data API), a role scoped like the CDK construct's (the Data API on one
# cluster, one secret, its own log group), and an invocation that runs the migrations whenever the
# content hash changes.

resource "aws_lambda_layer_version" "scripts" {
  layer_name               = "${var.name}-scripts"
  description              = "aurora-migrate scripts ${var.content_hash}"
  filename                 = var.layer_zip
  source_code_hash         = filebase64sha256(var.layer_zip)
  compatible_runtimes      = ["provided.al2023"]
  compatible_architectures = [var.architecture]
}

resource "aws_cloudwatch_log_group" "migrate" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "migrate" {
  name               = var.name
  description        = "aurora-migrate function: Data API on one cluster, read on one secret, its own logs"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

# No AWSLambdaBasicExecutionRole: its logs:* statements are on Resource "*". The function may write
# to its own log group only.
data "aws_iam_policy_document" "migrate" {
  statement {
    sid = "DataApi"
    actions = [
      "rds-data:BatchExecuteStatement",
      "rds-data:BeginTransaction",
      "rds-data:CommitTransaction",
      "rds-data:ExecuteStatement",
      "rds-data:RollbackTransaction",
    ]
    resources = [var.cluster_arn]
  }
  statement {
    sid       = "Secret"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    resources = [var.secret_arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.migrate.arn}:*"]
  }
}

resource "aws_iam_role_policy" "migrate" {
  name   = var.name
  role   = aws_iam_role.migrate.id
  policy = data.aws_iam_policy_document.migrate.json
}

resource "aws_lambda_function" "migrate" {
  function_name    = var.name
  description      = "aurora-migrate: applies SQL migrations to Aurora MySQL through the RDS Data API"
  role             = aws_iam_role.migrate.arn
  runtime          = "provided.al2023" # the binary needs glibc 2.30; provided.al2 has 2.26
  architectures    = [var.architecture]
  handler          = "bootstrap"
  filename         = var.function_zip
  source_code_hash = filebase64sha256(var.function_zip)
  layers           = [aws_lambda_layer_version.scripts.arn]
  memory_size      = var.memory_size
  timeout          = var.timeout

  environment {
    variables = merge(
      {
        AURORA_MIGRATE_RESOURCE_ARN   = var.cluster_arn
        AURORA_MIGRATE_SECRET_ARN     = var.secret_arn
        AURORA_MIGRATE_MIGRATIONS_DIR = "/opt/migrations"
        AURORA_MIGRATE_HISTORY_TABLE  = var.history_table
      },
      var.database == null ? {} : { AURORA_MIGRATE_DATABASE = var.database },
    )
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.migrate.name
  }
  # No vpc_config: the Data API is an AWS endpoint, reached without a VPC, NAT or bastion.

  depends_on = [aws_iam_role_policy.migrate]
}

# The provider fails the apply when the invocation ends in a function error, which is what a failed
# manual `migrate` gives; the error message carries the report.
resource "aws_lambda_invocation" "migrate" {
  count         = var.run_on_apply ? 1 : 0
  function_name = aws_lambda_function.migrate.function_name
  input         = jsonencode({ command = "migrate" })

  triggers = {
    content_hash = var.content_hash
    # A new function version (code or configuration) runs again too: it may be the fix of a failure.
    function = aws_lambda_function.migrate.source_code_hash
    layer    = aws_lambda_layer_version.scripts.arn
  }
}
