"""Back-ends shipped with the core (the OpenFlow back-end lives in apps/)."""
