package console

// RuleName is ruleName, for the tests.
var RuleName = ruleName
