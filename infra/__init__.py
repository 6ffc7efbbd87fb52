"""The Pot of Gold Pulumi program and its offline tooling."""
