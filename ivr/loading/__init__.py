"""Reading the configuration documents into the frozen model: one module per kind of document."""
