"""The simulated AWS cloud: moto in server mode behind a gateway that adds what moto lacks."""
