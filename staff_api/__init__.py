"""staff_api: an employee registry that resolves addresses through the CEP API."""
