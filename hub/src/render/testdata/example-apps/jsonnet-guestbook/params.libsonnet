{ name: 'jsonnet-guestbook-ui' }
