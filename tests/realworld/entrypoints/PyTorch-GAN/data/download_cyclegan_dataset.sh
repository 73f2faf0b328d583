FILE=$1
wget -N $URL -O $ZIP_FILE
