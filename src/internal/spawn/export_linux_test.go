package spawn

// sendFD is the descriptor the daemon's requests go out on.
func (c *Client) sendFD() int { return c.wfd }

// recvFD is the descriptor the daemon reads the spawner's replies from.
func (c *Client) recvFD() int { return c.fd }
