use aws_sdk_rdsdata as _;
#[test] fn placeholder() {}
