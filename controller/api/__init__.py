"""Document kinds, schemas, validation and typed models."""
