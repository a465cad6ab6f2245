"""VXLAN overlay: tunnel endpoints and the tunnel mesh between switches."""
