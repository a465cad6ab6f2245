"""The tenant REST API: Quantum v1.0 and Neutron v2.0 shapes over the same logical model."""
