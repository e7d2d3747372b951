'use strict';
// The compiled addon: tlsfChecksum, heapChecksum, fill, free (src/consumer.c).
const path = require('node:path');

module.exports = require(path.join(__dirname, 'build', 'Release', 'consumer.node'));
