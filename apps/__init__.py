"""os-ken applications of the OpenFlow back-end (the data-plane issue fills this in)."""
