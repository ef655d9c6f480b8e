"""cep_api: a CEP (Brazilian postal code) lookup microservice."""
