"""Collectors: each turns one source (the host, libvirt domains, HTTP endpoints, processes) into samples."""
