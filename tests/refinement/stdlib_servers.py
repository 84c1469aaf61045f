"""The stdlib's own servers built on socketserver, composed as their users compose them."""

import socketserver
from http.server import HTTPServer
from xmlrpc.server import SimpleXMLRPCServer


class ThreadingXMLRPCServer(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    """The threading XML-RPC server the xmlrpc docs leave to the user to compose."""


class ForkingHTTPServer(socketserver.ForkingMixIn, HTTPServer):
    """http.server has ThreadingHTTPServer only; a forking one is composed the same way."""
