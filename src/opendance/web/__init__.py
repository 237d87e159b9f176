"""The dashboard and the API playground: server-rendered pages over the services, plus a little
vanilla JavaScript and one CSS file, all served from this package (no CDN, no build step)."""
